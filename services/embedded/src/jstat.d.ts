/** The part of jstat (no types of its own) that the benchmark's statistics use. */
declare module 'jstat' {
  const jstat: {
    jStat: {
      studentt: {
        /** P(T ≤ x) for Student's t with `dof` degrees of freedom. */
        cdf(x: number, dof: number): number;
      };
    };
  };
  export default jstat;
}
