#!/usr/bin/env node
// `governorctl`: operate a governor cluster (the same commands as `governor ctl`).

import { buildCtl } from './governorctl-commands.js';
import { fail } from './errors.js';

buildCtl('governorctl').parseAsync(process.argv).catch(fail);
