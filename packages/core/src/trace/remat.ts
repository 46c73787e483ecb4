import { opInputs, sizeOf, type Op, type StepProgram } from './ir.js';

/**
 * Which forward values the backward pass reads from a per-step store (`saved`) and which it
 * recomputes (`recompute`, forward ops in program order), given the forward values the adjoint
 * ops read (`needed`).
 *
 * The rule: **least memory first, then least recomputation.** It is a minimum cut of the forward
 * graph (the rematerialisation cut of Jain et al., "Checkmate", and of PyTorch's min-cut
 * partitioner): every value is either not needed, saved (costing its size per step), or recomputed
 * (costing its work, which needs its operands at hand too). Free to read in the backward: inputs,
 * the previous state, parameters, constants, literals, and every next state (the time loop keeps
 * all states anyway). Never recomputed: state-dependent products (O(n²) each), reductions, softmax
 * and cumsum. Work, the tie-break: a product 2K per element, a transcendental (exp, log, sigmoid,
 * tanh, sqrt, rsqrt, pow) 16, other elementwise ops and copies 1. Since memory weighs more than all
 * work together, the cut never stores more per step than saving the products themselves would;
 * among the cuts that store the least, it recomputes the least. So where a product feeds only a
 * sigmoid or tanh, the cut stores the activation's output instead of the product (same size) and the
 * adjoint reads y for σ' = y(1 − y) and tanh' = 1 − y²; an activation stays recomputed only where
 * storing it would cost memory (e.g. tanh(c) of an LSTM: c is a state, tanh(c) one more [B, n] per
 * step).
 */
export function rematerialise(p: StepProgram, needed: Iterable<number>): { saved: number[]; recompute: Op[] } {
  const n = p.buffers.length;
  const producer = new Map<number, Op>(p.ops.map((o) => [o.out, o]));
  const nextStates = new Set(Object.values(p.nextState));
  // Values computed without the state: a product of them may be redone (the step's input projection).
  const stateFree = new Set<number>([...Object.values(p.inputs), ...Object.values(p.params), ...Object.values(p.constants)]);
  for (const o of p.ops) if (opInputs(o).every((i) => stateFree.has(i))) stateFree.add(o.out);

  const work = (o: Op): number => {
    const size = sizeOf(p.buffers[o.out].shape);
    if (o.op === 'reshape' || o.op === 'fill' || o.op === 'literal') return 0;
    if (o.op === 'matmul') {
      const a = p.buffers[o.a].shape;
      return 2 * size * (o.transA ? a[a.length - 2] : a[a.length - 1]);
    }
    const costly = (o.op === 'unary' && TRANSCENDENTAL.has(o.fn)) || (o.op === 'binary' && o.fn === 'pow');
    return size * (costly ? 16 : 1);
  };
  const banned = (o: Op) => o.op === 'reduce' || o.op === 'softmax' || o.op === 'cumsum' || (o.op === 'matmul' && !stateFree.has(o.out));
  const big = 1 + p.ops.reduce((a, o) => a + work(o), 0);

  // Nodes: source 0, sink 1, value v as v_in = 2 + 2v and v_out = 3 + 2v.
  const g = new Flow(2 + 2 * n);
  const vin = (v: number) => 2 + 2 * v;
  const vout = (v: number) => 3 + 2 * v;
  for (let v = 0; v < n; v++) {
    const o = producer.get(v);
    if (!o || nextStates.has(v)) {
      g.edge(0, vin(v), Infinity);
      g.edge(vin(v), vout(v), 0);
      continue;
    }
    const constant = o.op === 'fill' || o.op === 'literal';
    g.edge(vin(v), vout(v), constant ? Infinity : sizeOf(p.buffers[v].shape) * big);
    if (banned(o)) g.edge(0, vin(v), Infinity);
    else if (work(o) > 0) g.edge(0, vin(v), work(o));
    for (const u of opInputs(o)) g.edge(vout(u), vin(v), Infinity);
  }
  for (const v of needed) if (v < n) g.edge(vout(v), 1, Infinity);
  const source = g.minCut();
  // Recomputed: on the sink's side whole (v_in too); saved: cut between v_in and v_out. Walk from what the adjoint reads.
  const redo = (v: number) => p.buffers[v].role === 'temp' && !nextStates.has(v) && !source.has(vin(v));
  const reached = new Set<number>();
  const walk = (v: number) => {
    if (reached.has(v)) return;
    reached.add(v);
    if (redo(v)) opInputs(producer.get(v)!).forEach(walk);
  };
  for (const v of needed) if (v < n) walk(v);
  const saved = [...reached].filter((v) => p.buffers[v].role === 'temp' && !redo(v)).sort((a, b) => a - b);
  const recompute = p.ops.filter((o) => reached.has(o.out) && redo(o.out));
  return { saved, recompute };
}

const TRANSCENDENTAL = new Set(['exp', 'log', 'sigmoid', 'tanh', 'sqrt', 'rsqrt']);

/** Max flow by shortest augmenting paths (Edmonds–Karp): the graphs are a few hundred nodes. */
class Flow {
  private readonly adj: number[][];
  private readonly to: number[] = [];
  private readonly cap: number[] = [];

  constructor(nodes: number) {
    this.adj = Array.from({ length: nodes }, () => []);
  }

  edge(a: number, b: number, c: number): void {
    this.adj[a].push(this.to.length);
    this.to.push(b);
    this.cap.push(c);
    this.adj[b].push(this.to.length);
    this.to.push(a);
    this.cap.push(0);
  }

  /** The nodes on the source's side of a minimum cut between node 0 and node 1. */
  minCut(): Set<number> {
    for (;;) {
      const via = new Map<number, number>([[0, -1]]);
      const queue = [0];
      for (let i = 0; i < queue.length && !via.has(1); i++)
        for (const e of this.adj[queue[i]])
          if (this.cap[e] > 0 && !via.has(this.to[e])) {
            via.set(this.to[e], e);
            queue.push(this.to[e]);
          }
      if (!via.has(1)) return new Set(via.keys());
      let push = Infinity;
      for (let v = 1; v !== 0; v = this.to[via.get(v)! ^ 1]) push = Math.min(push, this.cap[via.get(v)!]);
      if (push === Infinity) throw new Error('trace: a value needed by the backward pass cannot be saved or recomputed');
      for (let v = 1; v !== 0; v = this.to[via.get(v)! ^ 1]) {
        this.cap[via.get(v)!] -= push;
        this.cap[via.get(v)! ^ 1] += push;
      }
    }
  }
}
