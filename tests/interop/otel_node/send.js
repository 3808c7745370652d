// Sends N log records through OpenTelemetry's Node SDK and its OTLP/HTTP log exporter (which sends
// OTLP/JSON): node send.js URL N. Every record carries its number, a severity and attributes.
const { LoggerProvider, BatchLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { OTLPLogExporter } = require("@opentelemetry/exporter-logs-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { SeverityNumber } = require("@opentelemetry/api-logs");

const [url, count] = [process.argv[2], Number(process.argv[3] || 100)];
const provider = new LoggerProvider({
  resource: resourceFromAttributes({ "service.name": "cart", "host.name": "node-box" }),
  processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url }), maxExportBatchSize: 50 })],
});
const logger = provider.getLogger("cart-logger", "1.2.3");
for (let i = 0; i < count; i++) {
  const warn = i % 4 === 0;
  logger.emit({
    severityNumber: warn ? SeverityNumber.WARN : SeverityNumber.INFO,
    severityText: warn ? "WARN" : "INFO",
    body: `cart ${i} checked out`,
    attributes: { "cart.id": i, "user": "bo", "ok": !warn },
  });
}
provider.shutdown().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
