/**
 * The log of connections a server refuses before any request exists (`maxConnections` reached, a
 * PROXY protocol header missing or wrong), one per address. A flood of refused connections must not
 * flood the log: the first refusal is logged at once, with its detail; the next ones in the
 * following REFUSALS_WINDOW are counted by kind and logged as one line at its end (or at shutdown).
 */

/** How long refused connections are only counted after one is logged: a flood of them writes two lines per address in this time. */
const REFUSALS_WINDOW = 5000;

export interface RefusalLog {
  /** A connection was refused for `kind` (a short phrase, the same for every refusal alike); `detail` is said instead when it is logged at once. */
  refused(kind: string, detail?: string): void;
  /** Log what has been counted and not yet said. */
  flush(): void;
}

export function refusalLog(log: (message: string) => void, where: string): RefusalLog {
  const counted = new Map<string, number>();
  let since = 0;
  let window: NodeJS.Timeout | undefined;
  const report = (seconds: string) => {
    window = undefined;
    if (counted.size > 0) {
      const total = [...counted.values()].reduce((sum, n) => sum + n, 0);
      const kinds = counted.size === 1 ? [...counted.keys()] : [...counted].map(([kind, n]) => `${kind} (${n})`);
      log(`refused ${total} more connection(s) on ${where} in the last ${seconds} s: ${kinds.join('; ')}`);
    }
    counted.clear();
  };
  return {
    refused(kind, detail = kind) {
      if (window !== undefined) {
        counted.set(kind, (counted.get(kind) ?? 0) + 1);
        return;
      }
      log(`refused a connection on ${where}: ${detail}`);
      since = Date.now();
      window = setTimeout(() => report(String(REFUSALS_WINDOW / 1000)), REFUSALS_WINDOW);
    },
    flush() {
      clearTimeout(window);
      report(((Date.now() - since) / 1000).toFixed(1));
    },
  };
}
