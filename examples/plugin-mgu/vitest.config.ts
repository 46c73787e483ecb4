import { cellstackProject } from '../../vitest.shared.ts';

export default cellstackProject('plugin-mgu');
