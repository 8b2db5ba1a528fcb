// Diff a mutated deep copy into an RFC 6902 JSON Patch. fast-json-patch's compare escapes path
// segments per RFC 6901 (`~` → `~0`, `/` → `~1`) and adds into existing maps key by key.

import jsonPatch from 'fast-json-patch';
import type { PatchOperation } from './review.js';

/** The operations that turn `before` into `after`; `metadata.managedFields` is never touched. */
export function diffPatch(before: unknown, after: unknown): PatchOperation[] {
  const operations = jsonPatch.compare(before as object, after as object) as PatchOperation[];
  return operations.filter((operation) => !operation.path.startsWith('/metadata/managedFields'));
}
