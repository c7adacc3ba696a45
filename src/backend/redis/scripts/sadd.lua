redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
if redis.call('GET', KEYS[2]) == ARGV[1] then return 1 end
return 0
