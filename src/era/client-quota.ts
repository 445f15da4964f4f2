/**
 * What 2026-07-28 clients hold open between their requests (calls parked for their `inputResponses`,
 * listen streams): each holds a share of a child, so they are bounded in number, overall and per client.
 */
export interface Held {
  readonly id: string;
  readonly clientKey: string;
}

export class ClientQuota<Item extends Held> {
  private readonly items = new Map<string, Item>();
  private readonly perClient = new Map<string, number>();

  constructor(
    /** Held at most at once. */
    private readonly max: number,
    /** Of which one client may hold at most. */
    private readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /**
   * Rule: one more is held while fewer than `max` are; a client already holding `maxPerClient` gives up its
   * oldest for it (`evict` ends that one). Why: each holds a child's request or stream open; a client that
   * abandons its own can push out only its own, never another client's.
   */
  hold(item: Item, evict: (oldest: Item) => void): boolean {
    if (this.items.has(item.id)) return true;
    if ((this.perClient.get(item.clientKey) ?? 0) >= this.maxPerClient) {
      const oldest = [...this.items.values()].find((held) => held.clientKey === item.clientKey);
      if (oldest) {
        this.release(oldest);
        evict(oldest);
      }
    }
    if (this.items.size >= this.max) return false;
    this.items.set(item.id, item);
    this.perClient.set(item.clientKey, (this.perClient.get(item.clientKey) ?? 0) + 1);
    return true;
  }

  /** Whether `hold` would take one more of this client's. */
  wouldHold(clientKey: string): boolean {
    return this.items.size < this.max || (this.perClient.get(clientKey) ?? 0) >= this.maxPerClient;
  }

  get(id: string): Item | undefined {
    return this.items.get(id);
  }

  /** Takes one out (a parked call's retry came, or it expired; a stream ended). */
  release(item: Item): void {
    if (this.items.get(item.id) !== item) return;
    this.items.delete(item.id);
    const held = (this.perClient.get(item.clientKey) ?? 1) - 1;
    if (held > 0) this.perClient.set(item.clientKey, held);
    else this.perClient.delete(item.clientKey);
  }

  all(): Item[] {
    return [...this.items.values()];
  }
}
