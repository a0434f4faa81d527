/**
 * A flow file as given to `--flow` (JSON, or YAML by its extension), checked with parseFlow
 * and returned as the JSON to store: the one reader of flow files, for USSD and WhatsApp.
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FlowError, parseFlow } from './schema.ts';

export function readFlowFile(file: string): string {
  let document: unknown;
  try {
    const text = fs.readFileSync(file, 'utf8');
    document = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new Error(`cannot read flow ${file}: ${(error as Error).message}`);
  }
  try {
    parseFlow(document);
  } catch (error) {
    if (error instanceof FlowError) throw new Error(`invalid flow ${file}: ${error.message}`);
    throw error;
  }
  return JSON.stringify(document);
}
