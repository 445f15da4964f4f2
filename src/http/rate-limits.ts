/**
 * Per-client rate limits: requests, new sessions, failed authentications (rate-limiter-flexible:
 * maintained, in-memory, expires idle keys by itself). Each is a number per minute, counted in one-minute
 * windows per client key.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

const waitSeconds = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

export class ClientRateLimit {
  private readonly limiter: RateLimiterMemory | undefined;

  /** `perMinute` 0 means no limit. */
  constructor(private readonly perMinute: number) {
    this.limiter = perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: 60 }) : undefined;
  }

  /** Takes one from the client's allowance; returns the seconds to wait when none is left. */
  async take(client: string): Promise<number | undefined> {
    if (!this.limiter) return undefined;
    try {
      await this.limiter.consume(client);
      return undefined;
    } catch (error) {
      if (error instanceof RateLimiterRes) return waitSeconds(error);
      throw error;
    }
  }

  /** The seconds to wait when the client has used up its allowance, without taking from it. */
  async exhausted(client: string): Promise<number | undefined> {
    const res = await this.limiter?.get(client);
    return res && res.consumedPoints >= this.perMinute ? waitSeconds(res) : undefined;
  }
}
