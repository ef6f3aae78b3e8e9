import { filesystemConfig } from '../helpers/server.js';
import { runApiSuite } from './suite.js';

runApiSuite('filesystem', filesystemConfig);
