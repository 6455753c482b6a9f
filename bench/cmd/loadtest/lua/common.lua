-- Every wrk run of the load test: a browser's User-Agent (the service counts clicks of humans
-- only), and a done() that prints the run's figures as one JSON line the harness reads.
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "\nWRK_JSON {\"duration_us\":%.0f,\"requests\":%.0f,\"bytes\":%.0f,\"connect\":%.0f,\"read\":%.0f,\"write\":%.0f,\"status\":%.0f,\"timeout\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f}\n",
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
