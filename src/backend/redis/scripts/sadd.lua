local added = redis.call('SADD', KEYS[1], ARGV[1])
local n = redis.call('SCARD', KEYS[1])
if added == 1 and n == 1 then
  -- The round's first answer created the set.
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[3])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then return 1 end
return 0
