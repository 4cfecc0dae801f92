// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {MeterUsage} from "../../../../contracts/types/BillingTypes.sol";

contract ReportUsageWithSignatureTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal constant ID = keccak256("report-1");
    bytes32 internal constant ROOT = keccak256("records");
    uint40 internal since;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
        since = factory.oracleActiveFrom(oracle);
    }

    function test_DigestIsEIP712() public view {
        MeterUsage[] memory u = new MeterUsage[](2);
        u[0] = MeterUsage(0, 7);
        u[1] = MeterUsage(3, 9);
        bytes32 meterType = keccak256("MeterUsage(uint8 meter,uint64 cumulative)");
        bytes32 usagesHash = keccak256(
            abi.encodePacked(
                keccak256(abi.encode(meterType, uint8(0), uint64(7))),
                keccak256(abi.encode(meterType, uint8(3), uint64(9)))
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "UsageReport(uint32 period,bytes32 reportId,bytes32 recordsRoot,uint16 epoch,uint40 signerSince,MeterUsage[] usages)MeterUsage(uint8 meter,uint64 cumulative)"
                ),
                uint32(4),
                ID,
                ROOT,
                uint16(3),
                uint40(123_456),
                usagesHash
            )
        );
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Settle BillingAgreement"),
                keccak256("1"),
                block.chainid,
                address(a)
            )
        );
        assertEq(
            a.usageReportDigest(4, ID, ROOT, 3, 123_456, u), keccak256(abi.encodePacked("\x19\x01", domain, structHash))
        );
    }

    function test_AnyoneRelaysSignedReport() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.expectEmit(address(a));
        emit IBillingAgreement.UsageReported(0, 0, 0, 42, ROOT, ID);
        vm.prank(stranger);
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 42);
        // Relaying it again (same epoch) changes nothing.
        vm.prank(stranger);
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 42);
    }

    function test_RevertWhen_SignerNotOracle() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReportAt(a, payerKey, 0, ID, ROOT, 0, since, u);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, payer));
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
    }

    function test_RevertWhen_ReportAltered() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        u[0].cumulative = 4200;
        // The signature recovers to some other address, which is no oracle.
        vm.expectRevert();
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 0);
    }

    function test_RevertWhen_EpochOrGrantAltered() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        // Epoch and grant are signed: changing either recovers another address, which is no oracle.
        address other = _recover(a.usageReportDigest(0, ID, ROOT, 1, since, u), sig);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, other));
        a.reportUsageWithSignature(0, ID, ROOT, 1, since, u, sig);
        other = _recover(a.usageReportDigest(0, ID, ROOT, 0, since + 1, u), sig);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, other));
        a.reportUsageWithSignature(0, ID, ROOT, 0, since + 1, u, sig);
    }

    function _recover(bytes32 digest, bytes memory sig) internal pure returns (address) {
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        return ecrecover(digest, uint8(sig[64]), r, s);
    }

    function test_RevertWhen_SignatureMalformed() public {
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, address(0))
        );
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, _usage(0, 1), hex"00");
    }

    function test_RevertWhen_SignerRevoked() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.prank(admin);
        factory.revokeRole(ORACLE_ROLE, oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, oracle));
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
    }

    function test_RevertWhen_SignedOnEarlierEpoch() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.prank(oracle);
        a.correctUsage(0, 0, 0, ROOT, "void");
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(0), uint16(1))
        );
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        // Signed again on the current epoch, it counts.
        sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        a.reportUsageWithSignature(0, ID, ROOT, 1, since, u, sig);
        assertEq(a.usage(0, 0), 42);
    }

    function test_RevertWhen_SignedUnderEarlierGrant() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.startPrank(admin);
        factory.revokeRole(ORACLE_ROLE, oracle);
        factory.grantRole(ORACLE_ROLE, oracle);
        vm.stopPrank();
        uint40 now_ = factory.oracleActiveFrom(oracle);
        assertGt(now_, since);
        vm.warp(now_);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleSignerGrant.selector, oracle, since, now_)
        );
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
    }
}
