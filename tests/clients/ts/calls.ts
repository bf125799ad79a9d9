// Calls a live loss-service through a client generated from openapi/openapi.json
// (openapi-typescript types + openapi-fetch) and prints what it parsed, as one JSON line, for
// tests/clients/test_generated_clients.py to check. That tsc accepts this file is half the test:
// plain nested lists, b64 tensor objects and a /compare body without `mode` must type-check.
import createClient from "openapi-fetch";
import type { components, paths } from "./loss-service";

declare const process: { env: Record<string, string | undefined> };

type TensorB64 = components["schemas"]["TensorB64"];

const client = createClient<paths, "application/json" | "application/problem+json">({
  baseUrl: process.env.LOSS_SERVICE_URL,
  headers: { "X-API-Key": process.env.LOSS_SERVICE_KEY },
});

function b64(values: number[], shape: number[]): TensorB64 {
  const bytes = new Uint8Array(new Float64Array(values).buffer); // little-endian on x86 and arm
  return { shape, dtype: "float64", b64: btoa(String.fromCharCode(...bytes)) };
}

const grad = await client.POST("/gradient/mse", {
  body: { predictions: [[0.5, 1.5], [2.0, 0.0]], targets: [[1.0, 1.0], [2.0, 1.0]] },
});
if (grad.error) throw new Error(`gradient/mse: ${grad.error.code}: ${grad.error.detail}`);
const gradient: components["schemas"]["GradientResponse"] = grad.data;

const ce = await client.POST("/loss/cross_entropy", {
  body: {
    predictions: b64([3.2, 5.1, -1.7, 1.3, 4.9, 2.0], [2, 3]),
    targets: [0, 1],
    encoding: "b64",
  },
});
if (ce.error) throw new Error(`loss/cross_entropy: ${ce.error.code}: ${ce.error.detail}`);
const perSample = ce.data.per_sample;
if (perSample === null || typeof perSample !== "object" || !("b64" in perSample)) {
  throw new Error(`expected a b64 per_sample, got ${JSON.stringify(perSample)}`);
}
const raw = Uint8Array.from(atob(perSample.b64), (c) => c.charCodeAt(0));

const graded = await client.POST("/compare", {
  body: { loss: "mse", predictions: [1.0, 2.0], targets: [1.0, 4.0], submission: { value: 2.0 } },
});
if (graded.error) throw new Error(`compare: ${graded.error.code}: ${graded.error.detail}`);
if (!("checks" in graded.data)) throw new Error("expected a grade result");
const grade: components["schemas"]["GradeResponse"] = graded.data;

const unauthorized = await createClient<paths, "application/json" | "application/problem+json">({
  baseUrl: process.env.LOSS_SERVICE_URL,
}).GET("/losses");
const problem: components["schemas"]["Problem"] | undefined = unauthorized.error;

console.log(JSON.stringify({
  mse: { value: gradient.value, gradient: gradient.gradient },
  cross_entropy: {
    value: ce.data.value,
    per_sample: Array.from(new Float64Array(raw.buffer)),
    shape: perSample.shape,
  },
  compare: { passed: grade.passed, score: grade.score, checks: grade.checks.map((c) => c.name) },
  unauthorized: { status: unauthorized.response.status, code: problem?.code },
}));
