// tfjs-core alone registers no gradient functions; the union package's Node bundle registers all
// of them (into tfjs-core's global registry, shared with the one core instance we import).
import '@tensorflow/tfjs';
