//! Row counts and content checksums of every user table, to see whether
//! running migrations changed the data. Reads only.

use std::collections::BTreeMap;

use tokio_postgres::Client;

/// Per table ("schema.table"): row count and an md5 of the sorted rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableData {
    pub tables: BTreeMap<String, (i64, String)>,
}

/// A table whose rows differ between two observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChange {
    pub table: String,
    pub rows_before: Option<i64>,
    pub rows_after: Option<i64>,
}

impl TableData {
    pub async fn read(client: &Client) -> Result<TableData, tokio_postgres::Error> {
        let rows = client
            .query(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'r'
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_%'
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'e')
                 ORDER BY 1",
                &[],
            )
            .await?;
        let mut tables = BTreeMap::new();
        for row in rows {
            let table: String = row.get(0);
            // Sorting the text of each row makes the checksum independent
            // of physical order, which a rerun may change.
            let sql = format!(
                "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t"
            );
            let row = client.query_one(&sql, &[]).await?;
            tables.insert(table, (row.get(0), row.get(1)));
        }
        Ok(TableData { tables })
    }

    /// Tables present on both sides whose rows differ.
    pub fn changes(&self, after: &TableData) -> Vec<DataChange> {
        self.tables
            .iter()
            .filter_map(|(table, before)| {
                let now = after.tables.get(table)?;
                (now != before).then(|| DataChange {
                    table: table.clone(),
                    rows_before: Some(before.0),
                    rows_after: Some(now.0),
                })
            })
            .collect()
    }
}
