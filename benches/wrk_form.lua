-- wrk script for benches/wrk_ratio.sh: each request a new visitor posting the load bench's
-- ~400-byte landing-page form (UTM tags, a click id, a phone, an e-mail and a `_token` of
-- its own, since a replayed `_token` stores nothing).
--
-- Environment: RUN (0, 1, 2, ...: one per wrk run against the same server, so no run
-- replays another's visitors), VISITORS=scattered (phones spread over all 10^8 numbers, as
-- real visitors' are; default: consecutive numbers, as `cargo bench --bench load` posts).

local next_thread = 0

function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  sent = 0
  run = tonumber(os.getenv("RUN") or "0")
  scattered = os.getenv("VISITORS") == "scattered"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  sent = sent + 1
  -- Ten million visitors per thread and run; up to ten threads-and-runs.
  local visitor = ((run * 2 + thread_number) * 10000000 + sent) % 100000000
  if scattered then
    -- 48271239 is prime to 10^8, so no two visitors share a number (all exact in a double).
    visitor = (visitor * 48271239) % 100000000
  end
  local body = string.format(
    "name=%%E5%%BC%%A0%%E4%%B8%%89&phone=139%08d&email=visitor%d%%40example.com"
      .. "&company=%%E4%%B8%%8A%%E6%%B5%%B7%%E6%%9F%%90%%E6%%9F%%90%%E8%%87%%AA%%E5%%8A%%A8%%E5%%8C%%96"
      .. "&title=%%E9%%87%%87%%E8%%B4%%AD%%E7%%BB%%8F%%E7%%90%%86"
      .. "&message=%%E8%%AF%%B7%%E5%%8F%%91%%E9%%80%%81%%E8%%B5%%84%%E6%%96%%99&consent=on"
      .. "&utm_source=douyin&utm_medium=live&utm_campaign=bench&utm_content=host-a"
      .. "&ttclid=E.C.P.%d&_token=wrk-%d-%d-%d&_hp=",
    visitor, visitor, visitor, run, thread_number, sent)
  return wrk.format(nil, nil, nil, body)
end
