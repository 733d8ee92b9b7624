-- Ends the endpoint's current delivery job if it is the caller's (nothing queued, or the endpoint
-- is gone), so that the next event starts a new one.
--
-- KEYS[1] jobs  HASH endpoint id -> current job id
-- ARGV[1] endpoint id
-- ARGV[2] the caller's job id
-- Returns 1 when released, 0 when the current job is another one (or none).
local rcall = redis.call
local jobs_key = KEYS[1]
local endpoint, job = ARGV[1], ARGV[2]

if rcall('HGET', jobs_key, endpoint) ~= job then return 0 end
rcall('HDEL', jobs_key, endpoint)
return 1
