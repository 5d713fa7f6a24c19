const SECRET_KEY = /pass(word)?|secret|token|credential|api[-_]?key/i;

/**
 * A run's settings as the page may show them: passwords in URLs (amqp://user:pass@host) and
 * values of secret-looking keys are masked. The dashboard has no authentication.
 */
export function publicConfig(config: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (SECRET_KEY.test(key) && value !== '' && value !== undefined) out[key] = '***';
    else if (typeof value === 'string') out[key] = maskUrlPassword(value);
    else out[key] = value;
  }
  return out;
}

function maskUrlPassword(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}
