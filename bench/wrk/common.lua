-- Shared by the wrk scripts of bench/run: tokens and case numbers come from the environment.
-- Case k is 00000000-0000-4000-8000-<k in 12 decimal digits> (trmctl seed cases).
token = os.getenv("BENCH_TOKEN")
token_b = os.getenv("BENCH_TOKEN_B")

function case_id(k)
    return string.format("00000000-0000-4000-8000-%012d", k)
end

-- Stateful scripts: each thread walks its own range of cases (tid numbers the threads).
local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

-- The j-th fresh case of this thread in this round (BENCH_ROUND of BENCH_ROUNDS): the
-- scenario's range (from BENCH_BASE, BENCH_PER cases for each of bench/run's two wrk
-- threads) split between the rounds.
function fresh_case(j)
    local base = tonumber(os.getenv("BENCH_BASE"))
    local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "1")
    local round = tonumber(os.getenv("BENCH_ROUND") or "1")
    local per = math.floor(tonumber(os.getenv("BENCH_PER")) / rounds)
    return base + ((round - 1) * 2 + tid) * per + (j % per)
end
