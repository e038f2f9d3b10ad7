// Compile a Solidity standard-JSON input file with a solcjs from node_modules and write the
// output to a file: `node compile.cjs <solc package, e.g. solc-0.6.6> <input> <output>`. Each
// compiler is an npm package (aliases such as "solc-0.6.6": "npm:solc@0.6.6" in package.json), so
// sources are compiled by the version their pragmas ask for. (The `solcjs --standard-json` CLI
// truncates large outputs written to a pipe.)
const fs = require("fs");
const [compiler, input, output] = process.argv.slice(2);
const solc = require(compiler);
fs.writeFileSync(output, solc.compile(fs.readFileSync(input, "utf8")));
