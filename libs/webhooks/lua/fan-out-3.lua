-- Moves a run of one source stream's events into the lanes of the webhook endpoints they match,
-- and the source's fan-out cursor past them, in one step: a crash leaves either both or neither,
-- so every event reaches each lane exactly once. Safe to run concurrently: a caller whose `from`
-- is no longer the cursor, or whose endpoint list is older than the source's version, writes nothing.
--
-- KEYS[1] cursor   STRING  last source entry id fanned out (absent: '0-0')
-- KEYS[2] version  STRING  endpoint changes seen by this source (absent: 0)
-- KEYS[3] events   STREAM  the source stream; its consumer group ARGV[4] mirrors the cursor, so
--                          the backlog metrics and alerts on consumer groups cover the fan-out
-- ARGV[1] from        the cursor the caller read after
-- ARGV[2] to          the id of the last entry the caller read: the new cursor
-- ARGV[3] version     the version of the caller's endpoint list
-- ARGV[4] group       consumer group name
-- ARGV[5] lanePrefix  a lane's queue is <lanePrefix><endpoint id>:queue (same hash tag as KEYS)
-- ARGV[6] n           number of events, then n triples: event id, at, event JSON (each event once)
-- then, per endpoint: its id, k, and the k (1-based) numbers of its events, in stream order
-- Lane entries: `id`, `at`, `event` (the JSON as delivered).
-- Returns {'ok', id...}: done; the ids are the endpoints whose lane was empty before (they need
--         a delivery job); {'moved', cursor}: the cursor is not ARGV[1]; {'stale', version}: the
--         endpoint list is older than the source's version.
local rcall = redis.call
local cursor_key, version_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local from, to, version, group, lane_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local n = tonumber(ARGV[6])

local cursor = rcall('GET', cursor_key) or '0-0'
if cursor ~= from then return { 'moved', cursor } end
local seen = rcall('GET', version_key) or '0'
if seen ~= version then return { 'stale', seen } end

local activated = { 'ok' }
local i = 7 + 3 * n
while i <= #ARGV do
  local endpoint, k = ARGV[i], tonumber(ARGV[i + 1])
  local queue = lane_prefix .. endpoint .. ':queue'
  if rcall('XLEN', queue) == 0 then activated[#activated + 1] = endpoint end
  for j = i + 2, i + 1 + k do
    local at = 7 + 3 * (tonumber(ARGV[j]) - 1)
    rcall('XADD', queue, '*', 'id', ARGV[at], 'at', ARGV[at + 1], 'event', ARGV[at + 2])
  end
  i = i + 2 + k
end

rcall('SET', cursor_key, to)
local mirrored = redis.pcall('XGROUP', 'SETID', events_key, group, to)
if type(mirrored) == 'table' and mirrored.err then rcall('XGROUP', 'CREATE', events_key, group, to, 'MKSTREAM') end
return activated
