-- 1M synthetic lead.created events, in the shape the node ships (ids increasing like ULIDs)
CREATE UNLOGGED TABLE public.src (n int primary key, id text, seq bigint, type text, occurred_at text, data jsonb, contact text);
INSERT INTO public.src
SELECT n, '01KB' || lpad(upper(to_hex(n)), 22, '0'), n, 'lead.created',
  to_char(timestamptz '2025-01-01' + n * interval '20 s', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  jsonb_build_object('id', '01J' || lpad(upper(to_hex(n)), 23, '0'),
    'campaign', 'c' || lpad((hashint4(n) % 1000 + 1000)::text, 4, '0'),
    'received_at', to_char(timestamptz '2024-01-01' + n * interval '20 s', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'name', '客户' || (n % 400000), 'phone', '+86138' || lpad((hashint4(n % 400000) % 100000000 + 100000000)::text, 8, '0'),
    'email', null, 'company', 'Company ' || (n % 5000), 'fields', jsonb_build_object('message', 'I would like a quote for item ' || n),
    'utm', jsonb_build_object('utm_source', 'wechat', 'utm_medium', 'social', 'utm_campaign', 'spring'), 'click_ids', '{}'::jsonb,
    'ref', null, 'source', 'form', 'status', 'new', 'assigned_to', null, 'assigned_to_name', null),
  encode(sha256(('contact' || (n % 400000))::bytea), 'hex')
FROM generate_series(1, 1000000) n;
