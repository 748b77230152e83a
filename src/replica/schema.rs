//! The `leadgate` schema in PostgreSQL: versioned migrations, each applied once and
//! recorded in `leadgate.migrations`, under a transaction-scoped advisory lock so that
//! nodes starting together do not race (the second waits, then finds them applied).
//! The tables are a contract for BI tools (API.md, "Several nodes"): columns may be
//! added by later migrations, never renamed or removed.

use tokio_postgres::Client;

/// Key of the advisory lock every node takes while migrating ("leadgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c65_6164_6761_7465;

/// Migrations in order; a migration's version is its position + 1. Never edit one that
/// has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: every table of the contract, even those later slices fill (campaigns, costs,
    // conversions, counters). `leads.seq` is the node's event that last wrote the row,
    // so a stale upsert cannot undo a newer one.
    r#"
    CREATE TABLE leadgate.leads (
        id text PRIMARY KEY,
        node text NOT NULL,
        campaign text,
        received_at timestamptz,
        status text,
        source text,
        name text,
        phone text,
        email text,
        company text,
        fields jsonb,
        utm jsonb,
        click_ids jsonb,
        erased boolean NOT NULL DEFAULT false,
        assigned_to text,
        seq bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX leads_campaign_received ON leadgate.leads (campaign, received_at);
    CREATE TABLE leadgate.campaigns (
        slug text PRIMARY KEY,
        record jsonb,
        updated_at timestamptz
    );
    CREATE TABLE leadgate.costs (
        id text PRIMARY KEY,
        campaign text,
        incurred_on date,
        amount numeric,
        currency text,
        note text
    );
    CREATE TABLE leadgate.conversions (
        id text PRIMARY KEY,
        record jsonb
    );
    CREATE TABLE leadgate.counters (
        node text,
        campaign text,
        day date,
        metric text,
        value bigint,
        PRIMARY KEY (node, campaign, day, metric)
    );
    CREATE TABLE leadgate.events (
        id text PRIMARY KEY,
        node text NOT NULL,
        seq bigint NOT NULL,
        type text NOT NULL,
        occurred_at timestamptz NOT NULL,
        data jsonb
    );
    CREATE UNIQUE INDEX events_node_seq ON leadgate.events (node, seq);
    -- An erasure finds the lead events that held the contact's details.
    CREATE INDEX events_lead ON leadgate.events ((data->>'id')) WHERE type LIKE 'lead.%';
    CREATE TABLE leadgate.nodes (
        node text PRIMARY KEY,
        seq bigint NOT NULL,
        seen_at timestamptz NOT NULL
    );
    "#,
    // 2: shared definitions (API.md: latest `updated_at` wins, ties by node id) and the
    // contact of each lead, for reports over every node. `node` says which node wrote a
    // row; `txid` is the PostgreSQL transaction that did, so a node reading changes made
    // since its last look also sees transactions that were still open then. A deleted
    // cost entry leaves a row in `cost_deletions`, so every node deletes it too.
    // `leads.contact` is the SHA-256 (hex) of the contact key (E.164 phone, else the
    // lower-cased e-mail): it joins a contact's leads across nodes and survives erasure.
    r#"
    ALTER TABLE leadgate.campaigns ADD COLUMN node text, ADD COLUMN txid bigint;
    CREATE INDEX campaigns_txid ON leadgate.campaigns (txid);
    ALTER TABLE leadgate.costs ADD COLUMN created_at timestamptz, ADD COLUMN node text,
        ADD COLUMN txid bigint;
    CREATE INDEX costs_txid ON leadgate.costs (txid);
    CREATE INDEX costs_campaign_day ON leadgate.costs (campaign, incurred_on);
    CREATE TABLE leadgate.cost_deletions (
        id text PRIMARY KEY,
        campaign text,
        node text,
        deleted_at timestamptz,
        txid bigint
    );
    CREATE INDEX cost_deletions_txid ON leadgate.cost_deletions (txid);
    ALTER TABLE leadgate.conversions ADD COLUMN updated_at timestamptz, ADD COLUMN node text,
        ADD COLUMN txid bigint;
    CREATE INDEX conversions_txid ON leadgate.conversions (txid);
    ALTER TABLE leadgate.leads ADD COLUMN contact text;
    CREATE INDEX leads_contact ON leadgate.leads (contact, received_at, id);
    "#,
    // 3: each contact's first lead anywhere (earliest received, ties by lead id as a node
    // orders ids: ULID text in "C" order is their numeric order), for `new_contacts` in
    // reports over every node without sorting every lead each time. Statement triggers
    // keep it in the transaction that writes the leads, so every writer keeps it right,
    // a node of an older build too; it is filled here for the leads already there.
    r#"
    CREATE TABLE leadgate.first_leads (
        contact text PRIMARY KEY,
        lead text COLLATE "C" NOT NULL,
        campaign text,
        received_at timestamptz NOT NULL
    );
    CREATE FUNCTION leadgate.note_first_leads() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- In contact order, so two nodes noting the same contacts lock them alike.
        INSERT INTO leadgate.first_leads (contact, lead, campaign, received_at)
        SELECT DISTINCT ON (contact) contact, id, campaign, received_at
        FROM changed_leads
        WHERE contact IS NOT NULL AND received_at IS NOT NULL
        ORDER BY contact, received_at, id COLLATE "C"
        ON CONFLICT (contact) DO UPDATE SET lead = excluded.lead,
            campaign = excluded.campaign, received_at = excluded.received_at
        WHERE (excluded.received_at, excluded.lead)
            < (leadgate.first_leads.received_at, leadgate.first_leads.lead);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER leads_inserted_first_leads AFTER INSERT ON leadgate.leads
        REFERENCING NEW TABLE AS changed_leads
        FOR EACH STATEMENT EXECUTE FUNCTION leadgate.note_first_leads();
    -- A lead shipped before migration 2 gets its contact with its next update.
    CREATE TRIGGER leads_updated_first_leads AFTER UPDATE ON leadgate.leads
        REFERENCING NEW TABLE AS changed_leads
        FOR EACH STATEMENT EXECUTE FUNCTION leadgate.note_first_leads();
    INSERT INTO leadgate.first_leads (contact, lead, campaign, received_at)
    SELECT DISTINCT ON (contact) contact, id, campaign, received_at
    FROM leadgate.leads
    WHERE contact IS NOT NULL AND received_at IS NOT NULL
    ORDER BY contact, received_at, id COLLATE "C";
    CREATE INDEX first_leads_received ON leadgate.first_leads (received_at);
    -- A report reads the touches of every converting contact: with the campaign in the
    -- index that is an index-only scan, without a heap page per lead.
    CREATE INDEX leads_touches ON leadgate.leads (contact, received_at, id) INCLUDE (campaign);
    DROP INDEX leadgate.leads_contact;
    "#,
    // 4: cheaper to write, for a node shipping its history (README, "Several nodes"). The
    // indexed keys leadgate makes (ULIDs, contact hashes, campaign slugs, node ids, metric
    // names: ASCII) are compared as bytes, as "C" orders them, not by the database's locale
    // (strcoll on every comparison while an index is descended). Compared with a column or
    // value of the default collation, "C" is the one used, so joins and filters work as
    // before. `events (node, seq)` goes: nothing reads by it, and a node's row in `nodes`,
    // locked by each batch, already keeps the numbering gapless and each event shipped once.
    // Safe to run again (a test re-applies it).
    r#"
    ALTER TABLE leadgate.leads ALTER COLUMN id TYPE text COLLATE "C",
        ALTER COLUMN contact TYPE text COLLATE "C",
        ALTER COLUMN campaign TYPE text COLLATE "C";
    ALTER TABLE leadgate.counters ALTER COLUMN node TYPE text COLLATE "C",
        ALTER COLUMN campaign TYPE text COLLATE "C",
        ALTER COLUMN metric TYPE text COLLATE "C";
    ALTER TABLE leadgate.first_leads ALTER COLUMN contact TYPE text COLLATE "C";
    ALTER TABLE leadgate.events ALTER COLUMN id TYPE text COLLATE "C";
    DROP INDEX IF EXISTS leadgate.events_lead;
    CREATE INDEX events_lead ON leadgate.events (((data->>'id') COLLATE "C"))
        WHERE type LIKE 'lead.%';
    DROP INDEX IF EXISTS leadgate.events_node_seq;
    "#,
    // 5: erasures at a person's request, so that every node erases its copy of the person
    // (API.md, "Privacy and backups"): which node erased whom (the contact's hash), the
    // other nodes' leads its shipping blanked (`[{"node", "id"}]`) and the conversions it
    // unlinked. Other nodes read the rows by `txid`, as they read the shared definitions.
    // A conversion.recorded event held the contact: an erasure finds its events by id.
    // (IF NOT EXISTS: a test re-applies the migrations after 2 to a database it rolled back.)
    r#"
    CREATE TABLE IF NOT EXISTS leadgate.erasures (
        id text PRIMARY KEY,
        contact text NOT NULL,
        node text NOT NULL,
        erased_at timestamptz,
        leads jsonb NOT NULL,
        conversions jsonb NOT NULL,
        txid bigint NOT NULL
    );
    CREATE INDEX IF NOT EXISTS erasures_txid ON leadgate.erasures (txid);
    CREATE INDEX IF NOT EXISTS erasures_contact ON leadgate.erasures (contact);
    CREATE INDEX IF NOT EXISTS events_conversion ON leadgate.events ((data->>'id'))
        WHERE type = 'conversion.recorded';
    "#,
    // 6: a node of this build notes its batch's first leads itself, once the batch holds
    // the node's row (`ship::note_first_leads`), and says so for its transaction with
    // `leadgate.first_leads_by`. It can then write a batch's leads while the batch before
    // it commits: the trigger, noting contacts as the leads are written, would lock the
    // contacts both batches share in an order that deadlocks. Every other writer (a node
    // of an older build, a BI tool) is still kept right by the trigger.
    r#"
    CREATE OR REPLACE FUNCTION leadgate.note_first_leads() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('leadgate.first_leads_by', true) = 'batch' THEN
            RETURN NULL;
        END IF;
        -- In contact order, so two nodes noting the same contacts lock them alike.
        INSERT INTO leadgate.first_leads (contact, lead, campaign, received_at)
        SELECT DISTINCT ON (contact) contact, id, campaign, received_at
        FROM changed_leads
        WHERE contact IS NOT NULL AND received_at IS NOT NULL
        ORDER BY contact, received_at, id COLLATE "C"
        ON CONFLICT (contact) DO UPDATE SET lead = excluded.lead,
            campaign = excluded.campaign, received_at = excluded.received_at
        WHERE (excluded.received_at, excluded.lead)
            < (leadgate.first_leads.received_at, leadgate.first_leads.lead);
        RETURN NULL;
    END
    $$;
    "#,
];

/// The newest schema version this build knows.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Creates the schema or brings it up to [`VERSION`]. Returns the migrations applied now.
/// A database migrated by a newer build is left alone (its extra columns are additions).
pub async fn migrate(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    txn.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS leadgate;
         CREATE TABLE IF NOT EXISTS leadgate.migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await?;
    let row = txn
        .query_one(
            "SELECT coalesce(max(version), 0) FROM leadgate.migrations",
            &[],
        )
        .await?;
    let applied: i32 = row.get(0);
    let mut count = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i32 + 1;
        if version <= applied {
            continue;
        }
        txn.batch_execute(sql).await?;
        txn.execute(
            "INSERT INTO leadgate.migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        count += 1;
    }
    txn.commit().await?;
    Ok(count)
}
