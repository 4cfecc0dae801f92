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

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
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
                    "UsageReport(uint32 period,bytes32 reportId,bytes32 recordsRoot,MeterUsage[] usages)MeterUsage(uint8 meter,uint64 cumulative)"
                ),
                uint32(4),
                ID,
                ROOT,
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
        assertEq(a.usageReportDigest(4, ID, ROOT, u), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    function test_AnyoneRelaysSignedReport() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.expectEmit(address(a));
        emit IBillingAgreement.UsageReported(0, 0, 0, 42, ROOT, ID);
        vm.prank(stranger);
        a.reportUsageWithSignature(0, ID, ROOT, u, sig);
        assertEq(a.usage(0, 0), 42);
        // Relaying it again changes nothing.
        vm.prank(stranger);
        a.reportUsageWithSignature(0, ID, ROOT, u, sig);
        assertEq(a.usage(0, 0), 42);
    }

    function test_RevertWhen_SignerNotOracle() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, payerKey, 0, ID, ROOT, u);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, payer));
        a.reportUsageWithSignature(0, ID, ROOT, u, sig);
    }

    function test_RevertWhen_ReportAltered() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        u[0].cumulative = 4200;
        // The signature recovers to some other address, which is no oracle.
        vm.expectRevert();
        a.reportUsageWithSignature(0, ID, ROOT, u, sig);
        assertEq(a.usage(0, 0), 0);
    }

    function test_RevertWhen_SignatureMalformed() public {
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, address(0))
        );
        a.reportUsageWithSignature(0, ID, ROOT, _usage(0, 1), hex"00");
    }

    function test_RevertWhen_SignerRevoked() public {
        MeterUsage[] memory u = _usage(0, 42);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.prank(admin);
        factory.revokeRole(ORACLE_ROLE, oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, oracle));
        a.reportUsageWithSignature(0, ID, ROOT, u, sig);
    }
}
