// Prints the generated passwords of the Secrets in a rendered manifests file as chart values
// ("inventoryDatabase.auth.password=..."), so scripts/render-manifests can keep them across renderings.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const valueKeys = {
  "inventory-database-credentials": "inventoryDatabase.auth.password",
  "billing-database-credentials": "billingDatabase.auth.password",
  "rabbitmq-credentials": "rabbitmq.auth.password",
};
for (const doc of parseAllDocuments(readFileSync(process.argv[2], "utf8"))) {
  const o = doc.toJS();
  if (o?.kind === "Secret" && valueKeys[o.metadata?.name] && o.data?.password) {
    console.log(`${valueKeys[o.metadata.name]}=${Buffer.from(o.data.password, "base64").toString()}`);
  }
}
