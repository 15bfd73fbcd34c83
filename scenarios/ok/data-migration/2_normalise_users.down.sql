-- Nothing to undo: the old spellings and the deleted accounts are not kept.
SELECT 1;
