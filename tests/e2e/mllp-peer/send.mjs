// A third-party MLLP peer for commissiond-hl7's tests: Medplum's Hl7Client.
// Usage: node send.mjs HOST PORT < messages.json   (a JSON array of HL7 texts)
// Prints one JSON line per message: {"msa1": "AA", "msa2": "<control id>"}.
import { readFileSync } from 'node:fs';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';

const [host, port] = process.argv.slice(2);
const messages = JSON.parse(readFileSync(0, 'utf8'));
const client = new Hl7Client({ host, port: Number(port) });
try {
  for (const text of messages) {
    const ack = await client.sendAndWait(Hl7Message.parse(text));
    const msa = ack.getSegment('MSA');
    console.log(JSON.stringify({ msa1: msa.getField(1).toString(), msa2: msa.getField(2).toString() }));
  }
} finally {
  client.close();
}
