//! Every table of a write transaction, opened once per batch. Opening a redb table costs
//! about as much as a lookup, and storing one lead touches eight tables: opened per job,
//! the opens were a third of the writer's work.

use redb::{Table, WriteTransaction};

use super::assignee_index::LeadsByAssignee;
use super::storage;
use super::tables;
use crate::error::Result;

pub struct Tables<'txn> {
    pub meta: Table<'txn, &'static str, &'static [u8]>,
    pub campaigns: Table<'txn, &'static str, &'static [u8]>,
    pub leads: Table<'txn, u128, &'static [u8]>,
    pub leads_by_campaign: Table<'txn, (&'static str, u128), ()>,
    pub contacts: Table<'txn, &'static str, &'static [u8]>,
    pub emails: Table<'txn, &'static str, (i64, &'static str)>,
    pub touches: Table<'txn, (&'static str, i64, u128), &'static str>,
    pub tokens: Table<'txn, &'static str, u128>,
    pub counters: Table<'txn, (&'static str, u32, &'static str), u64>,
    pub monthly_counters: Table<'txn, (&'static str, u32, &'static str), u64>,
    pub total_counters: Table<'txn, (&'static str, &'static str), u64>,
    pub tracking_numbers: Table<'txn, &'static str, &'static str>,
    pub costs: Table<'txn, (&'static str, u32, &'static str), &'static [u8]>,
    pub conversions: Table<'txn, &'static str, &'static [u8]>,
    pub placements: Table<'txn, (&'static str, &'static str), u8>,
    pub outbox: Table<'txn, u64, &'static [u8]>,
    pub outbox_cursors: Table<'txn, &'static str, u64>,
    pub destinations: Table<'txn, u128, &'static [u8]>,
    pub deliveries: Table<'txn, u128, &'static [u8]>,
    pub salespeople: Table<'txn, u128, &'static [u8]>,
    /// Written per batch: `flush` before the commit.
    pub leads_by_assignee: LeadsByAssignee<'txn>,
    pub round_robin: Table<'txn, &'static str, u128>,
    pub activities: Table<'txn, (u128, i64, u128), &'static [u8]>,
    pub follow_ups: Table<'txn, u128, i64>,
    pub lead_deadlines: Table<'txn, u128, (i64, bool)>,
    pub deadlines: Table<'txn, (i64, u128), ()>,
    pub report_schedules: Table<'txn, u128, &'static [u8]>,
    pub qr_targets: Table<'txn, (&'static str, &'static str), &'static [u8]>,
    pub audit_log: Table<'txn, (i64, u128), &'static [u8]>,
    pub erased_leads: Table<'txn, u128, &'static [u8]>,
    pub erasures: Table<'txn, u128, &'static [u8]>,
    /// Set when a job of this batch appended an outbox event: after the commit, the
    /// relays are woken.
    pub events_appended: bool,
}

impl<'txn> Tables<'txn> {
    /// Opens them all; they must be dropped before the transaction commits or aborts.
    pub fn open(txn: &'txn WriteTransaction) -> Result<Tables<'txn>> {
        Ok(Tables {
            meta: txn.open_table(tables::META).map_err(storage)?,
            campaigns: txn.open_table(tables::CAMPAIGNS).map_err(storage)?,
            leads: txn.open_table(tables::LEADS).map_err(storage)?,
            leads_by_campaign: txn.open_table(tables::LEADS_BY_CAMPAIGN).map_err(storage)?,
            contacts: txn.open_table(tables::CONTACTS).map_err(storage)?,
            emails: txn.open_table(tables::EMAILS).map_err(storage)?,
            touches: txn.open_table(tables::TOUCHES).map_err(storage)?,
            tokens: txn.open_table(tables::TOKENS).map_err(storage)?,
            counters: txn.open_table(tables::COUNTERS).map_err(storage)?,
            monthly_counters: txn.open_table(tables::MONTHLY_COUNTERS).map_err(storage)?,
            total_counters: txn.open_table(tables::TOTAL_COUNTERS).map_err(storage)?,
            tracking_numbers: txn.open_table(tables::TRACKING_NUMBERS).map_err(storage)?,
            costs: txn.open_table(tables::COSTS).map_err(storage)?,
            conversions: txn.open_table(tables::CONVERSIONS).map_err(storage)?,
            placements: txn.open_table(tables::PLACEMENTS).map_err(storage)?,
            outbox: txn.open_table(tables::OUTBOX).map_err(storage)?,
            outbox_cursors: txn.open_table(tables::OUTBOX_CURSORS).map_err(storage)?,
            destinations: txn.open_table(tables::DESTINATIONS).map_err(storage)?,
            deliveries: txn.open_table(tables::DELIVERIES).map_err(storage)?,
            salespeople: txn.open_table(tables::SALESPEOPLE).map_err(storage)?,
            leads_by_assignee: LeadsByAssignee::new(
                txn.open_table(tables::LEADS_BY_ASSIGNEE).map_err(storage)?,
            ),
            round_robin: txn.open_table(tables::ROUND_ROBIN).map_err(storage)?,
            activities: txn.open_table(tables::ACTIVITIES).map_err(storage)?,
            follow_ups: txn.open_table(tables::FOLLOW_UPS).map_err(storage)?,
            lead_deadlines: txn.open_table(tables::LEAD_DEADLINES).map_err(storage)?,
            deadlines: txn.open_table(tables::DEADLINES).map_err(storage)?,
            report_schedules: txn.open_table(tables::REPORT_SCHEDULES).map_err(storage)?,
            qr_targets: txn.open_table(tables::QR_TARGETS).map_err(storage)?,
            audit_log: txn.open_table(tables::AUDIT_LOG).map_err(storage)?,
            erased_leads: txn.open_table(tables::ERASED_LEADS).map_err(storage)?,
            erasures: txn.open_table(tables::ERASURES).map_err(storage)?,
            events_appended: false,
        })
    }
}
