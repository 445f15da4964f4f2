/**
 * Per-client rate limits for requests and for new sessions (rate-limiter-flexible: maintained, in-memory,
 * expires idle keys by itself). Each limit is a number per minute, counted in one-minute windows per client.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export class ClientRateLimit {
  private readonly limiter: RateLimiterMemory | undefined;

  /** `perMinute` 0 means no limit. */
  constructor(perMinute: number) {
    this.limiter = perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: 60 }) : undefined;
  }

  /** Takes one from the client's allowance; returns the seconds to wait when none is left. */
  async take(client: string): Promise<number | undefined> {
    if (!this.limiter) return undefined;
    try {
      await this.limiter.consume(client);
      return undefined;
    } catch (error) {
      if (error instanceof RateLimiterRes) return Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw error;
    }
  }
}
