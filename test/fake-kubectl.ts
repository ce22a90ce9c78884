// A stand-in for kubectl that records its argv, for testing the plugin's plumbing: which kubectl
// commands it runs, with what files. Nothing real can answer those commands here: this machine
// has no cluster, and the lab's API is read-only (no apply, delete or Secrets) and serves no
// port-forward. `port-forward` "forwards" to a local port given in FAKE_PF_PORT. With
// FAKE_KUSTOMIZE set to a real kubectl, `apply -k DIR` also has it render DIR (what a real apply
// would send) to $FAKE_LOG.yaml, kustomize's errors to $FAKE_LOG.err.
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = `#!/bin/bash
# argv, one JSON array per call
python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$FAKE_LOG"
args=("$@")
for ((i = 0; i < $#; i++)); do
  case "\${args[$i]}" in
    apply)
      dir="\${args[$((i + 2))]}"
      { echo "FILES $(ls "$dir" | tr '\\n' ' ')"; echo "MODE $(stat -c %a "$dir/token.env")"; echo "TLS_MODE $(stat -c %a "$dir/tls.yaml")"; echo "TOKEN $(cat "$dir/token.env")";
        echo "KUSTOMIZATION_TAIL $(tail -n 4 "$dir/kustomization.yaml" | tr '\\n' '|')"; } >> "$FAKE_LOG"
      if [ -n "\${FAKE_KUSTOMIZE:-}" ]; then "$FAKE_KUSTOMIZE" kustomize "$dir" > "$FAKE_LOG.yaml" 2> "$FAKE_LOG.err" || exit 1; fi
      echo "namespace/hopscope created"; exit 0 ;;
    get)
      case "\${args[$((i + 1))]} \${args[$((i + 2))]:-}" in
        "secret hopscope-token") printf '%s' "\${FAKE_TOKEN_B64:-}" ;;
        "secret hopscope-ca") printf '%s' "\${FAKE_CA_JSON:-}" ;;
        "nodes -o") printf '%s' "\${FAKE_NODES:-node-1 node-2}" ;;
        *) exit 4 ;;
      esac
      exit 0 ;;
    port-forward) echo "Forwarding from 127.0.0.1:\${FAKE_PF_PORT} -> 7070"; exec sleep 300 ;;
    delete) echo "deleted"; exit 0 ;;
  esac
done
exit 3
`;

/** Write the fake; returns its path and the log it appends to. */
export function fakeKubectl(): { path: string; log: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hs-fake-kubectl-'));
  const path = join(dir, 'kubectl');
  writeFileSync(path, SCRIPT);
  chmodSync(path, 0o755);
  return { path, log: join(dir, 'log'), dir };
}
