import type { DeviceStatus } from '@distgan/engine';

/** A change in who is alive, as an operator reads it in the log. */
export type MembershipChange =
  | { change: 'joined'; device: DeviceStatus }
  | { change: 'rejoined'; device: DeviceStatus }
  /** `how`: it unregistered (a clean stop), or its heartbeat expired (killed, hung, cut off). */
  | { change: 'left'; deviceId: string; how: 'left the run' | 'stopped beating' };

/**
 * Compares each membership listing with the one before: who joined, who came back, who left and
 * how. The server logs every change and counts it (distgan_device_membership_changes_total).
 */
export class MembershipWatch {
  private alive = new Set<string>();
  private readonly seen = new Set<string>();

  update(devices: readonly DeviceStatus[]): MembershipChange[] {
    const changes: MembershipChange[] = [];
    const now = new Set(devices.filter((d) => d.alive).map((d) => d.deviceId));
    for (const d of devices) {
      if (!d.alive || this.alive.has(d.deviceId)) continue;
      changes.push({ change: this.seen.has(d.deviceId) ? 'rejoined' : 'joined', device: d });
      this.seen.add(d.deviceId);
    }
    const registered = new Set(devices.map((d) => d.deviceId));
    for (const id of this.alive) {
      if (now.has(id)) continue;
      changes.push({
        change: 'left',
        deviceId: id,
        how: registered.has(id) ? 'stopped beating' : 'left the run',
      });
    }
    this.alive = now;
    return changes;
  }
}
