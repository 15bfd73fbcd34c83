//! A snapshot kept up to date by reading again only what changed.
//!
//! Most of a schema belongs to a relation: a table's columns, constraints,
//! indexes, triggers, policies and comments, a view's definition, a
//! sequence. Each relation, with what it holds, is a unit, known by its
//! OID. When a caller knows which relations a step touched (see
//! `observe::touched`), [`refresh`] reads those units and, if asked, the
//! few objects that belong to no relation (schemas, types, routines,
//! collations), and keeps everything else from the previous snapshot.
//! A step that touches a handful of tables then costs a handful of tables,
//! whatever the size of the schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio_postgres::Client;

use super::snapshot::{self, Prepared, Reach, Read};
use super::{ObjectKind, SchemaError, Snapshot};

/// A snapshot with the unit each of its objects belongs to.
#[derive(Debug, Clone, Default)]
pub struct Indexed {
    pub snapshot: Arc<Snapshot>,
    units: Arc<Units>,
}

#[derive(Debug, Clone, Default)]
struct Units {
    /// Per relation OID, the keys of the objects it holds.
    keys: BTreeMap<u32, Vec<String>>,
    /// Per relation (`schema.name`, as keys spell it), its OID.
    oids: BTreeMap<String, u32>,
}

/// Kinds whose objects belong to a relation's unit; the others are read
/// whole when a refresh reads them at all.
fn in_unit(kind: ObjectKind) -> bool {
    !matches!(
        kind,
        ObjectKind::Schema
            | ObjectKind::Extension
            | ObjectKind::Enum
            | ObjectKind::Domain
            | ObjectKind::Function
            | ObjectKind::Procedure
            | ObjectKind::Collation
    )
}

/// Kinds that are relations: their name is their unit's.
fn is_relation(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Table
            | ObjectKind::View
            | ObjectKind::MaterializedView
            | ObjectKind::Sequence
            | ObjectKind::CompositeType
    )
}

impl Indexed {
    /// The whole schema.
    pub async fn read(
        client: &Client,
        prepared: Option<&Prepared>,
    ) -> Result<Indexed, SchemaError> {
        let read = snapshot::read(client, prepared, Reach::All).await?;
        Ok(Indexed::default().with(read, &BTreeSet::new(), false))
    }

    /// The OID of the relation named `name` (`schema.name`).
    pub fn oid(&self, name: &str) -> Option<u32> {
        self.units.oids.get(name).copied()
    }

    /// The partitions of the partitioned table `oid`, by OID: what an
    /// `ALTER TABLE ... DETACH PARTITION` on it changes, though nothing
    /// ties them to it any more once it ran.
    pub fn partitions(&self, oid: u32) -> Vec<u32> {
        let Some(name) = self
            .units
            .oids
            .iter()
            .find(|(_, o)| **o == oid)
            .map(|(n, _)| n)
        else {
            return Vec::new();
        };
        let partitioned = self
            .snapshot
            .get(ObjectKind::Table, name)
            .is_some_and(|table| table.attr("kind") == Some("partitioned"));
        if !partitioned {
            return Vec::new();
        }
        self.snapshot
            .tables()
            .filter(|table| table.attr("partition_of") == Some(name.as_str()))
            .filter_map(|table| self.oid(&table.name))
            .collect()
    }

    /// This snapshot with the relations `units` and, when `others`, every
    /// object that belongs to no relation read again. Nothing to read
    /// gives back the same snapshot.
    pub async fn refresh(
        &self,
        client: &Client,
        prepared: Option<&Prepared>,
        units: &BTreeSet<u32>,
        others: bool,
    ) -> Result<Indexed, SchemaError> {
        if units.is_empty() && !others {
            return Ok(self.clone());
        }
        let read = snapshot::read(client, prepared, Reach::Some { units, others }).await?;
        Ok(self.with(read, units, others))
    }

    /// This snapshot without the relations `units` and, when `others`,
    /// the objects of no relation, and with what `read` read of them.
    fn with(&self, read: Read, units: &BTreeSet<u32>, others: bool) -> Indexed {
        let mut objects = self.snapshot.objects.clone();
        let mut kept = (*self.units).clone();
        for unit in units {
            for key in kept.keys.remove(unit).unwrap_or_default() {
                objects.remove(&key);
            }
        }
        kept.oids.retain(|_, oid| !units.contains(oid));
        if others {
            objects.retain(|_, object| in_unit(object.kind));
        }
        kept.add(&read.units, &read.objects);
        Indexed {
            snapshot: Arc::new(read.onto(objects)),
            units: Arc::new(kept),
        }
    }
}

impl Units {
    /// Records which unit each object read (`(unit, key)`) belongs to.
    fn add(&mut self, read: &[(u32, String)], objects: &BTreeMap<String, super::Object>) {
        for (unit, key) in read {
            self.keys.entry(*unit).or_default().push(key.clone());
            if let Some(object) = objects.get(key).filter(|o| is_relation(o.kind)) {
                self.oids.insert(object.name.clone(), *unit);
            }
        }
    }
}
