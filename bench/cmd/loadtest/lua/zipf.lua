-- Clicks on /go over n products, drawn from a Zipf distribution of exponent s (P(rank k) ∝ k^-s, as
-- Go's rand.Zipf with v = 1), the popular ranks spread over the products by a seeded permutation.
-- Arguments: n, s, the first product id, the seed, and optionally "id": ask /<product id> (the
-- peer's short links, -peer) instead of /go. The requests are formatted once, in init.
local requests, cdf, n

init = function(args)
  n = tonumber(args[1])
  local s, base, seed = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  local path = "/go?u=https%%3A%%2F%%2Fwww.aliexpress.com%%2Fitem%%2F%.0f.html"
  if args[5] == "id" then
    path = "/%.0f"
  end
  math.randomseed(seed)
  cdf = {}
  local sum = 0
  for k = 1, n do
    sum = sum + k ^ (-s)
    cdf[k] = sum
  end
  for k = 1, n do
    cdf[k] = cdf[k] / sum
  end
  local perm = {}
  for i = 1, n do
    perm[i] = i - 1
  end
  for i = n, 2, -1 do
    local j = math.random(i)
    perm[i], perm[j] = perm[j], perm[i]
  end
  requests = {}
  for k = 1, n do
    requests[k] = wrk.format(nil, string.format(path, base + perm[k]))
  end
end

-- request draws a rank by inverse CDF: the first k with cdf[k] >= u.
request = function()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return requests[lo]
end
