// The subset of cli-progress (which ships no types) that the CLI uses.
declare module 'cli-progress' {
  interface Options {
    stream?: NodeJS.WritableStream;
    format?: string;
    hideCursor?: boolean;
    etaBuffer?: number;
    fps?: number;
  }
  type Payload = Record<string, string>;
  export class SingleBar {
    constructor(options: Options, preset?: object);
    start(total: number, value: number, payload?: Payload): void;
    update(value: number, payload?: Payload): void;
    setTotal(total: number): void;
    stop(): void;
  }
  export class MultiBar {
    constructor(options: Options, preset?: object);
    create(total: number, value: number, payload?: Payload): SingleBar;
    stop(): void;
  }
  export const Presets: { shades_classic: object };
  const cliProgress: { SingleBar: typeof SingleBar; MultiBar: typeof MultiBar; Presets: typeof Presets };
  export default cliProgress;
}
