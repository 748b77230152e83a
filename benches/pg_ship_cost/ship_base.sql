BEGIN;
SELECT seq FROM leadgate.nodes WHERE node = 'bench' FOR UPDATE \g /dev/null
SET LOCAL client_min_messages = warning;
CREATE TEMPORARY TABLE IF NOT EXISTS leadgate_batch (id text, seq bigint, type text, occurred_at text, data jsonb, contact text) ON COMMIT DELETE ROWS;
INSERT INTO pg_temp.leadgate_batch SELECT id, seq, type, occurred_at, data, contact FROM public.src WHERE n BETWEEN {lo} AND {hi};
INSERT INTO leadgate.events (id, node, seq, type, occurred_at, data)
 SELECT e.id, 'bench', e.seq, e.type, e.occurred_at::timestamptz, e.data FROM pg_temp.leadgate_batch AS e ON CONFLICT (id) DO NOTHING;
INSERT INTO leadgate.leads (id, node, campaign, received_at, status, source, name,
     phone, email, company, fields, utm, click_ids, assigned_to, erased, seq, contact)
 SELECT DISTINCT ON (l->>'id') l->>'id', 'bench', l->>'campaign',
     (l->>'received_at')::timestamptz, l->>'status', l->>'source', l->>'name',
     l->>'phone', l->>'email', l->>'company', l->'fields', l->'utm', l->'click_ids',
     l->>'assigned_to', false, e.seq, e.contact
 FROM pg_temp.leadgate_batch AS e, LATERAL (SELECT e.data AS l) AS lead
 WHERE e.type IN ('lead.created', 'lead.updated', 'lead.overdue') AND l->>'id' IS NOT NULL
 ORDER BY l->>'id', e.seq DESC
 ON CONFLICT (id) DO UPDATE SET
     campaign = excluded.campaign, received_at = excluded.received_at,
     status = excluded.status, source = excluded.source, name = excluded.name,
     phone = excluded.phone, email = excluded.email, company = excluded.company,
     fields = excluded.fields, utm = excluded.utm, click_ids = excluded.click_ids,
     assigned_to = excluded.assigned_to, seq = excluded.seq, contact = excluded.contact
 WHERE leadgate.leads.seq < excluded.seq AND NOT leadgate.leads.erased;
UPDATE leadgate.nodes SET seq = greatest(seq, {last}), seen_at = now() WHERE node = 'bench';
COMMIT;
