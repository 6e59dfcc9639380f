/** "Did you mean" for unknown keys and values: the closest candidate a typo could come from. */

/** Edit distance (insert, delete, substitute), case-sensitive as YAML keys are. */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The closest candidate within 3 edits (fewer for short words), else one that the word is a prefix of or that is a
 * prefix of the word (`stream` -> `stream_name`, `max_files_kept` -> `max_files`); undefined
 * when nothing is close enough to be a plausible typo. Ties go to the first candidate.
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  // Short words are within 3 edits of almost anything: allow fewer edits for them.
  let bestDistance = Math.min(3, Math.max(1, Math.floor(word.length / 2))) + 1;
  let prefixMatch: string | undefined;
  for (const candidate of candidates) {
    const distance = levenshtein(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
    const c = candidate.toLowerCase();
    if (
      prefixMatch === undefined &&
      lower.length >= 3 &&
      (c.startsWith(lower) || lower.startsWith(c))
    ) {
      prefixMatch = candidate;
    }
  }
  return best ?? prefixMatch;
}
