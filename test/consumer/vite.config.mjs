// Nothing here for statechorus: no aliases, define or shims.
export default { root: 'web', build: { outDir: '../dist-vite', emptyOutDir: true } };
