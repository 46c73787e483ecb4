'use strict';
// The addon build.mjs compiled at install, or the reason there is none.
const path = require('node:path');

function load() {
  try {
    return require(path.join(__dirname, 'build', 'cellstack_native.node'));
  } catch (e) {
    const why = e && e.code === 'MODULE_NOT_FOUND' ? 'not built (no C compiler at install? run `npm rebuild @cellstack/native`)' : String(e && e.message);
    return { isa: `none: ${why}` };
  }
}

const addon = load();
module.exports = { matmul: addon.matmul, matmulBatch: addon.matmulBatch, gates: addon.gates, step: addon.step, trace: addon.trace, traceParts: addon.traceParts, setThreads: addon.setThreads, threadedProducts: addon.threadedProducts, wake: addon.wake, setWide: addon.setWide, isa: addon.isa };
