-- Makes a new delivery job the endpoint's current one, if its current job is the caller's
-- `expected` (none, to start one; the caller's own, to hand over to the next). At most one job per
-- endpoint is current, so one request per endpoint is in flight and its events stay in order.
--
-- KEYS[1] jobs  HASH endpoint id -> current job id
-- KEYS[2] seq   HASH endpoint id -> job counter
-- ARGV[1] endpoint id
-- ARGV[2] expected current job id, '' for none
-- Returns the new job id (`<endpoint>-<n>`), or false when the current job is not `expected`.
local rcall = redis.call
local jobs_key, seq_key = KEYS[1], KEYS[2]
local endpoint, expected = ARGV[1], ARGV[2]

local current = rcall('HGET', jobs_key, endpoint) or ''
if current ~= expected then return false end
local job = endpoint .. '-' .. rcall('HINCRBY', seq_key, endpoint, 1)
rcall('HSET', jobs_key, endpoint, job)
return job
