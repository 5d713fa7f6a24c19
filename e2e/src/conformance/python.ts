import { spawnSync } from 'node:child_process';

/**
 * A Python 3 that imports numpy, pika and redis (what examples/python-device needs): `PYTHON` if
 * set, else the first of python3 and the system's /usr/bin/python3 (where Debian's python3-numpy,
 * python3-pika and python3-redis go) that does; undefined when none does.
 */
export function findPython(): string | undefined {
  const candidates = process.env['PYTHON']
    ? [process.env['PYTHON']]
    : ['python3', '/usr/bin/python3'];
  return candidates.find(
    (py) => spawnSync(py, ['-c', 'import numpy, pika, redis'], { stdio: 'ignore' }).status === 0,
  );
}
