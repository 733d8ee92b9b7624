-- Takes or renews a lease: held by `owner` for `ttl` ms unless another owner holds it.
--
-- KEYS[1] lease  STRING the owner's name, with a TTL
-- ARGV[1] owner
-- ARGV[2] ttl    ms
-- Returns 1 when the caller holds the lease now, 0 when another owner does.
local rcall = redis.call
local lease_key = KEYS[1]
local owner, ttl = ARGV[1], ARGV[2]

local holder = rcall('GET', lease_key)
if holder and holder ~= owner then return 0 end
rcall('SET', lease_key, owner, 'PX', ttl)
return 1
