--[[
  One page of a channel's members, in clientId order, with their joined sessions: one consistent
  read in three commands, whatever the page size: the page's clients (ZRANGEBYLEX clients from
  the cursor, exclusive), their sessions (one ZRANGEBYLEX of the index, see includes/channel-member)
  and the sessions' records (HMGET). Paging by the last clientId returned neither skips nor repeats
  a member that stays in the channel while others join and leave.

  KEYS[1] clients  ZSET  KEYS[2] sessions  HASH <clientId>|<sessionId> -> record  KEYS[3] index  ZSET
  ARGV[1] after: '-' for the first page, '(<clientId>' after that client, '[<clientId>' from it on
          (one member's sessions: limit 1)  ARGV[2] limit

  Returns { clients, sessions, more (1/0), the page's last clientId or false,
            then per session of the page, in client order: <clientId>|<sessionId>, record JSON }
]]
local rcall = redis.call
--- @include "channel-member"

local clients, sessions, index = KEYS[1], KEYS[2], KEYS[3]
local after, limit = ARGV[1], tonumber(ARGV[2])

local page = rcall('ZRANGEBYLEX', clients, after, '+', 'LIMIT', 0, limit + 1)
local more = 0
if #page > limit then
  more = 1
  page[#page] = nil
end
local result = { rcall('ZCARD', clients), rcall('HLEN', sessions), more, page[#page] or false }
if #page == 0 then return result end
local fields = rcall('ZRANGEBYLEX', index, clients_range(page[1], page[#page]))
-- In slices: Lua's unpack is limited to a few thousand values.
for from = 1, #fields, 1000 do
  local slice = { unpack(fields, from, math.min(from + 999, #fields)) }
  local records = rcall('HMGET', sessions, unpack(slice))
  for i = 1, #slice do
    if records[i] then
      result[#result + 1] = slice[i]
      result[#result + 1] = records[i]
    end
  end
end
return result
