// A short story through the TypeScript client an integrator generates from
// openapi/openapi.json (openapi-typescript's types, openapi-fetch's
// client), against a live server: log in, admit a patient, write a care
// log, page through a list, read a problem+json error. `tsc` type-checks it
// against the generated types first, so a renamed field fails the build.
// Run by .ci/sdks: node dist/story.js BASE_URL (CAREGO_DEMO_PASSWORD set).
import createClient from "openapi-fetch";
import type { components, paths } from "./carego.js";

type Problem = components["schemas"]["Problem"];

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`typescript sdk: ${what}`);
}

const base = process.argv[2];
const password = process.env.CAREGO_DEMO_PASSWORD ?? "";
const client = createClient<paths>({ baseUrl: base });

const signedIn = await client.POST("/api/v1/auth/login", {
  body: { email: "admin@sunrise.example", password },
});
check(signedIn.response.status === 200 && signedIn.data !== undefined, "login");
const me = signedIn.data.user;
client.use({
  onRequest({ request }) {
    request.headers.set("Authorization", `Bearer ${signedIn.data!.accessToken}`);
    return request;
  },
});

const admitted = await client.POST("/api/v1/patients", {
  params: { header: { "Idempotency-Key": crypto.randomUUID() } },
  body: { firstName: "Tara", lastName: "Typescript", dateOfBirth: "1988-07-14" },
});
check(admitted.response.status === 201 && admitted.data !== undefined, "admit a patient");
const patient = admitted.data.patient;

const written = await client.POST("/api/v1/patients/{id}/care-logs", {
  params: { path: { id: patient.id } },
  body: { kind: "observation", body: "Admitted; written by the TypeScript SDK story." },
});
check(written.response.status === 201 && written.data !== undefined, "write a care log");
check(written.data.original.authorId === me.id, "the caller is the author");

const seen: string[] = [];
let cursor: string | undefined;
let pages = 0;
do {
  const page = await client.GET("/api/v1/patients", { params: { query: { limit: 2, cursor } } });
  check(page.data !== undefined, "a page of patients");
  seen.push(...page.data.items.map((p) => p.id));
  pages += 1;
  cursor = page.data.nextCursor;
} while (cursor);
check(pages >= 2, `paging (${pages} pages)`);
check(new Set(seen).size === seen.length, "no patient on two pages");
check(seen.includes(patient.id), "the new patient is listed");

const missing = await client.GET("/api/v1/patients/{id}", {
  params: { path: { id: crypto.randomUUID() } },
});
const problem = missing.error as Problem | undefined;
check(missing.response.status === 404 && problem !== undefined, "a missing patient is 404");
check(problem.code === "not_found" && problem.status === 404, "the problem's code");
check(missing.response.headers.get("content-type") === "application/problem+json", "problem+json");
console.log(`typescript sdk: story passed (${seen.length} patients over ${pages} pages)`);
