import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initBackend, describeBackend } from '../../src/index.js';
const info = await initBackend();
console.log(describeBackend(info), JSON.stringify(info), getThreadsCount(), tf.env().getBool('WASM_HAS_SIMD_SUPPORT'));
