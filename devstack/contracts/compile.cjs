// Compile a Solidity standard-JSON input file with the solcjs from node_modules and write the
// output to a file. (The `solcjs --standard-json` CLI truncates large outputs written to a pipe.)
const fs = require("fs");
const solc = require("solc");
const [input, output] = process.argv.slice(2);
fs.writeFileSync(output, solc.compile(fs.readFileSync(input, "utf8")));
