//! Which relations a sandbox's statements touched, as the server itself
//! tells: two event triggers (`ddl_command_end`, `sql_drop`) record every
//! object a DDL command created, altered or dropped, whether the command
//! came from a migration's text, a `DO` block or dynamic SQL. A caller
//! that keeps a snapshot then reads again only those relations
//! (`schema::Indexed::refresh`), instead of the whole schema after every
//! step.
//!
//! The triggers are installed, as the superuser, in the sandboxes' base
//! database when it is made (so every clone has them), and record only in
//! a session that asked ([`start`]): into its temporary table
//! `migcheck_touched`, so that a rollback undoes what it recorded with
//! what it recorded, and a migration's `RESET ALL` leaves it alone. A
//! migration cannot turn them off: it runs as the migration role, which
//! may not alter an event trigger, and they fire `ALWAYS`, whatever
//! `session_replication_role` says. One that drops the table (`DISCARD
//! TEMP`) makes the next [`take`] say `everything`. Under `--superuser`
//! nothing stops a migration from dropping the triggers, so there they
//! are not relied on.
//!
//! An altered object also changes the text of what depends on it (a
//! renamed column in a view, a renamed type in a column): the trigger
//! follows `pg_depend` from each object an ALTER touched to what depends
//! on it, two levels deep, and records the relation each belongs to.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use crate::schema::{Indexed, ObjectKind};

/// Installs the triggers; run as a superuser, in the sandboxes' base
/// database. The function lives in `pg_catalog`, where snapshots never
/// look; both run as their owner, so that whatever role a migration
/// switches to, they can read the catalogs and write the session's table.
/// An error inside the trigger must never fail a migration: it records
/// `*` (read everything) instead.
pub const INSTALL: &str = r#"
CREATE FUNCTION pg_catalog.migcheck_touched() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
-- Every read here is a lookup by key; a sandbox's statistics say the
-- catalogs hold no user rows, and planned freely the lookups became
-- scans of catalogs that grow with the schema, at every DDL command.
SET enable_seqscan = off AS $migcheck$
DECLARE
  found text;
BEGIN
  IF to_regclass('pg_temp.migcheck_touched') IS NULL THEN
    RETURN;
  END IF;
  BEGIN
    IF tg_event = 'sql_drop' THEN
      -- The catalogs no longer hold what was dropped: a dropped index is
      -- named (its table is in the snapshot from before), the children of
      -- a table by the table's name.
      SELECT string_agg(DISTINCT CASE
               WHEN d.classid = 'pg_class'::regclass AND d.object_type = 'index'
                 THEN 'i' || d.address_names[1] || '.' || d.address_names[2]
               WHEN d.classid = 'pg_class'::regclass THEN 'r' || d.objid
               WHEN d.object_type IN ('table constraint', 'trigger', 'policy', 'rule', 'default value')
                 THEN 't' || d.address_names[1] || '.' || d.address_names[2]
               ELSE 'o' END, chr(31))
        INTO found
        FROM pg_event_trigger_dropped_objects() d
       WHERE NOT d.is_temporary;
    ELSE
      -- What an ALTER changes (a name, a type) shows in the text of
      -- what depends on it, two levels deep: a renamed column in a view
      -- or another table's foreign key, a renamed schema's type in a
      -- column. What a CREATE makes has no dependents yet. (A recursive
      -- query here cost more than the command it watched.)
      WITH commands AS MATERIALIZED (
        SELECT c.classid, c.objid, c.command_tag LIKE 'ALTER %' AS altered
        FROM pg_event_trigger_ddl_commands() c
        WHERE NOT c.in_extension
      ), dependents AS MATERIALIZED (
        SELECT d.classid, d.objid
        FROM commands t
        JOIN pg_depend d ON d.refclassid = t.classid AND d.refobjid = t.objid
        WHERE t.altered AND d.deptype <> 'e'
      ), touched AS (
        SELECT classid, objid FROM commands
        UNION
        SELECT classid, objid FROM dependents
        UNION
        SELECT d.classid, d.objid
        FROM dependents t
        JOIN pg_depend d ON d.refclassid = t.classid AND d.refobjid = t.objid
        WHERE d.deptype <> 'e'
      ), owned(unit) AS (
        SELECT CASE t.classid
                 WHEN 'pg_class'::regclass THEN
                   COALESCE((SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = t.objid), t.objid)
                 WHEN 'pg_constraint'::regclass THEN
                   (SELECT NULLIF(x.conrelid, 0) FROM pg_constraint x WHERE x.oid = t.objid)
                 WHEN 'pg_trigger'::regclass THEN (SELECT x.tgrelid FROM pg_trigger x WHERE x.oid = t.objid)
                 WHEN 'pg_policy'::regclass THEN (SELECT x.polrelid FROM pg_policy x WHERE x.oid = t.objid)
                 WHEN 'pg_rewrite'::regclass THEN (SELECT x.ev_class FROM pg_rewrite x WHERE x.oid = t.objid)
                 WHEN 'pg_attrdef'::regclass THEN (SELECT x.adrelid FROM pg_attrdef x WHERE x.oid = t.objid)
                 -- A relation's row type is the relation's; an array
                 -- type (0) is nobody's.
                 WHEN 'pg_type'::regclass THEN
                   (SELECT CASE WHEN x.typcategory = 'A' THEN 0 ELSE NULLIF(x.typrelid, 0) END
                    FROM pg_type x WHERE x.oid = t.objid)
               END
        FROM touched t
      )
      SELECT string_agg(DISTINCT CASE WHEN unit IS NULL THEN 'o' ELSE 'r' || unit END, chr(31))
        INTO found
        FROM owned WHERE unit IS DISTINCT FROM 0;
    END IF;
  EXCEPTION WHEN OTHERS THEN
    found := '*';
  END;
  IF found IS NOT NULL THEN
    INSERT INTO pg_temp.migcheck_touched VALUES (found);
  END IF;
END
$migcheck$;
CREATE FUNCTION pg_catalog.migcheck_touched_take() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $migcheck$
DECLARE
  taken text;
BEGIN
  IF to_regclass('pg_temp.migcheck_touched') IS NULL THEN
    CREATE TEMP TABLE migcheck_touched (entry text);
    RETURN '*';
  END IF;
  WITH taken AS (DELETE FROM pg_temp.migcheck_touched RETURNING entry)
  SELECT string_agg(entry, chr(31)) INTO taken FROM taken;
  RETURN COALESCE(taken, '');
END
$migcheck$;
CREATE EVENT TRIGGER migcheck_touched_ddl ON ddl_command_end
  EXECUTE FUNCTION pg_catalog.migcheck_touched();
CREATE EVENT TRIGGER migcheck_touched_drop ON sql_drop
  EXECUTE FUNCTION pg_catalog.migcheck_touched();
ALTER EVENT TRIGGER migcheck_touched_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER migcheck_touched_drop ENABLE ALWAYS;
"#;

/// Starts recording in `client`'s session, from nothing.
pub async fn start(client: &Client) -> Result<(), tokio_postgres::Error> {
    take(client).await.map(drop)
}

/// What DDL touched since the last [`take`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Relations by OID: made, altered, dropped, or depending on what was.
    units: BTreeSet<u32>,
    /// Tables (`schema.table`) whose constraints, triggers, policies,
    /// rules or defaults were dropped.
    tables: BTreeSet<String>,
    /// Dropped indexes (`schema.index`).
    indexes: BTreeSet<String>,
    /// Something that belongs to no relation: a schema, type, routine,
    /// extension, collation, or a command on no object (GRANT).
    pub others: bool,
    /// The trigger failed: anything may have changed.
    pub everything: bool,
}

/// What the session recorded since the last call, forgetting it;
/// `everything` when it was not recording (it is from now on).
pub async fn take(client: &Client) -> Result<Touched, tokio_postgres::Error> {
    let row = client
        .query_one("SELECT pg_catalog.migcheck_touched_take()", &[])
        .await?;
    Ok(parse(row.get(0)))
}

fn parse(recorded: &str) -> Touched {
    let mut touched = Touched::default();
    for entry in recorded.split('\u{1f}').filter(|e| !e.is_empty()) {
        let (tag, rest) = entry.split_at(1);
        match tag {
            "r" => match rest.parse() {
                Ok(oid) => {
                    touched.units.insert(oid);
                }
                Err(_) => touched.everything = true,
            },
            "t" => {
                touched.tables.insert(rest.to_owned());
            }
            "i" => {
                touched.indexes.insert(rest.to_owned());
            }
            "o" => touched.others = true,
            _ => touched.everything = true,
        }
    }
    touched
}

impl Touched {
    /// The relations to read again, by OID. `before` is the snapshot from
    /// before the DDL: it tells dropped indexes' tables, the OIDs of
    /// tables known by name (a name it does not know was made after it,
    /// and its OID is already in `units`), and the partitions a touched
    /// partitioned table had (which a detach changes).
    pub fn units(&self, before: &Indexed) -> BTreeSet<u32> {
        let mut units = self.units.clone();
        let tables = self.indexes.iter().filter_map(|index| {
            before
                .snapshot
                .get(ObjectKind::Index, index)
                .and_then(|index| index.attr("table"))
        });
        for table in tables.chain(self.tables.iter().map(String::as_str)) {
            if let Some(oid) = before.oid(table) {
                units.insert(oid);
            }
        }
        let partitions: Vec<u32> = units.iter().flat_map(|&u| before.partitions(u)).collect();
        units.extend(partitions);
        units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_by_their_tag() {
        let touched = parse("r16400\u{1f}tpublic.jobs\u{1f}ipublic.jobs_idx\u{1f}o");
        assert_eq!(touched.units, BTreeSet::from([16400]));
        assert_eq!(touched.tables, BTreeSet::from(["public.jobs".to_owned()]));
        assert_eq!(
            touched.indexes,
            BTreeSet::from(["public.jobs_idx".to_owned()])
        );
        assert!(touched.others && !touched.everything);
        assert_eq!(parse(""), Touched::default());
        assert!(parse("*").everything);
        assert!(parse("rnot-an-oid").everything);
    }
}
