#!/usr/bin/env node
// Committed (not built) so that npm can link the bin before `prepare` compiles dist/.
import '../dist/main.js';
