-- Takes an endpoint out of the registry and records it as being deleted, in one step: a deletion
-- cut short by a crash leaves the record where the repair finds it (it names the endpoint's lanes,
-- channel lanes included, which its id alone does not).
--
-- KEYS[1] endpoints  HASH endpoint id -> endpoint JSON
-- KEYS[2] deleting   HASH endpoint id -> endpoint JSON, until its lanes are dropped
-- ARGV[1] endpoint id
-- Returns the endpoint's JSON, or false when the registry does not have it.
local rcall = redis.call
local endpoints_key, deleting_key = KEYS[1], KEYS[2]
local id = ARGV[1]

local json = rcall('HGET', endpoints_key, id)
if not json then return false end
rcall('HSET', deleting_key, id, json)
rcall('HDEL', endpoints_key, id)
return json
