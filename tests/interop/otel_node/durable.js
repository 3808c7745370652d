// Sends log records through OpenTelemetry's Node SDK and its OTLP/HTTP log exporter (OTLP/JSON) at a steady
// rate until SIGTERM: node durable.js URL PREFIX RATE. Each record carries a unique "tid" attribute; each
// export's outcome is printed as it comes, one JSON line: {"ok": true|false, "at": ms, "tids": [...]}.
const { LoggerProvider, BatchLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { OTLPLogExporter } = require("@opentelemetry/exporter-logs-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { SeverityNumber } = require("@opentelemetry/api-logs");

const [url, prefix, rate] = [process.argv[2], process.argv[3], Number(process.argv[4] || 50)];

// The exporter as the SDK uses it, telling what became of each batch.
class Recording {
  constructor(inner) { this.inner = inner; }
  export(records, done) {
    const tids = records.map((r) => r.attributes.tid);
    this.inner.export(records, (result) => {
      process.stdout.write(JSON.stringify({ ok: result.code === 0, at: Date.now(), tids }) + "\n");
      done(result);
    });
  }
  forceFlush() { return this.inner.forceFlush(); }
  shutdown() { return this.inner.shutdown(); }
}

const provider = new LoggerProvider({
  resource: resourceFromAttributes({ "service.name": "durable-node" }),
  processors: [new BatchLogRecordProcessor({ exporter: new Recording(new OTLPLogExporter({ url })),
                                             maxExportBatchSize: 20, scheduledDelayMillis: 100 })],
});
const logger = provider.getLogger("durable");
const pad = "x".repeat(200);
let n = 0;
const started = Date.now();
const timer = setInterval(() => {
  const due = Math.floor(((Date.now() - started) / 1000) * rate);
  for (; n < due; n++) {
    logger.emit({ severityNumber: SeverityNumber.INFO, body: `node line ${n}`,
                  attributes: { tid: `${prefix}${n}`, pad: `${n}-${Math.random()}-${pad}` } });
  }
}, 20);
// Stop at once: exports still retrying against a daemon that is gone were never told success (stdout is a
// pipe, written synchronously on Linux: every line printed is out).
process.on("SIGTERM", () => { clearInterval(timer); process.exit(0); });
