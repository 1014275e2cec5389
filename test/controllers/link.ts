// A TCP proxy between a client and the server whose link can be cut (open sockets destroyed, new
// ones refused) and restored: how tests drop a watch's connection for real.
import net from 'node:net';

export class Link {
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  up = true;
  port = 0;
  constructor(private target: number) {
    this.server = net.createServer((c) => {
      if (!this.up) return c.destroy();
      const s = net.connect(this.target, '127.0.0.1');
      this.sockets.add(c).add(s);
      c.pipe(s).pipe(c);
      const drop = () => {
        c.destroy();
        s.destroy();
        this.sockets.delete(c);
        this.sockets.delete(s);
      };
      c.on('error', drop).on('close', drop);
      s.on('error', drop).on('close', drop);
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }
  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }
  restore(): void {
    this.up = true;
  }
  close(): void {
    this.cut();
    this.server.close();
  }
}

export function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error(`timed out waiting for ${what}`)) : setTimeout(tick, 10));
    tick();
  });
}
