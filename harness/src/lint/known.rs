//! States known to exist before the set runs, and the tables they hold.
//!
//! Under a `tracked` runner each migration runs once, so a table that the
//! set creates with `CREATE TABLE IF NOT EXISTS` can exist beforehand only
//! if something outside the set created it. Only a state that shows it (a
//! scenario's legacy SQL, a version of the set deployed earlier) makes a
//! column the table lacks there a finding. The tables are read from the
//! statements that build the state, as written: a conditional creation is
//! taken to have happened, since the state may have taken that branch.

use std::collections::{HashMap, HashSet};

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType};

use super::{Table, names};
use crate::migrations::Script;

/// A database state known to exist before the set runs.
#[derive(Debug, Clone)]
pub struct Known<'a> {
    /// Its name, as findings and the report name legacy states.
    pub name: &'a str,
    /// The set's versions it records as run: a tracked runner does not
    /// run those migrations on it.
    pub recorded: Vec<&'a str>,
    /// The statements that built it, in the order they ran.
    pub scripts: Vec<&'a Script>,
}

/// The tables a state ends with, each with its columns.
pub(super) type Tables = HashMap<Table, HashSet<String>>;

/// The tables `known` ends with.
pub(super) fn tables(known: &Known) -> Tables {
    let mut tables = Tables::new();
    for unit in super::units(known.scripts.iter().copied()) {
        match &unit.node {
            NodeEnum::CreateStmt(s) => {
                let Some(relation) = &s.relation else {
                    continue;
                };
                let columns = s.table_elts.iter().filter_map(|e| match &e.node {
                    Some(NodeEnum::ColumnDef(c)) => Some(c.colname.clone()),
                    _ => None,
                });
                // IF NOT EXISTS on an existing table does nothing.
                tables
                    .entry(Table::of(relation))
                    .or_insert_with(|| columns.collect());
            }
            NodeEnum::AlterTableStmt(s) if s.objtype == ObjectType::ObjectTable as i32 => {
                let Some(relation) = &s.relation else {
                    continue;
                };
                let Some(columns) = tables.get_mut(&Table::of(relation)) else {
                    continue;
                };
                for cmd in &s.cmds {
                    let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
                        continue;
                    };
                    match AlterTableType::try_from(cmd.subtype) {
                        Ok(AlterTableType::AtAddColumn) => {
                            if let Some(NodeEnum::ColumnDef(c)) =
                                cmd.def.as_ref().and_then(|d| d.node.as_ref())
                            {
                                columns.insert(c.colname.clone());
                            }
                        }
                        Ok(AlterTableType::AtDropColumn) => {
                            columns.remove(&cmd.name);
                        }
                        _ => {}
                    }
                }
            }
            NodeEnum::RenameStmt(s) => {
                let Some(relation) = &s.relation else {
                    continue;
                };
                let table = Table::of(relation);
                match ObjectType::try_from(s.rename_type) {
                    Ok(ObjectType::ObjectColumn) => {
                        if let Some(columns) = tables.get_mut(&table)
                            && columns.remove(&s.subname)
                        {
                            columns.insert(s.newname.clone());
                        }
                    }
                    Ok(ObjectType::ObjectTable) => {
                        if let Some(columns) = tables.remove(&table) {
                            let renamed = Table {
                                schema: table.schema,
                                name: s.newname.clone(),
                            };
                            tables.insert(renamed, columns);
                        }
                    }
                    _ => {}
                }
            }
            NodeEnum::DropStmt(s) if s.remove_type == ObjectType::ObjectTable as i32 => {
                for object in &s.objects {
                    tables.remove(&Table::from_names(&names(object)));
                }
            }
            _ => {}
        }
    }
    tables
}
